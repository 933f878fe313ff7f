//! `@computed(expression:)`: arithmetic over a field's `@requires` values.
//!
//! A computed field is a function of the fields the gateway passes in the representation
//! (`@requires(fields: "totalProductsCreated yearsOfEmployment")`). The expression language is
//! deliberately small and total: numbers, the required fields by name (`dimensions.weight` for
//! a nested one), `+ - * / %`, parentheses, and the functions `round`, `floor`, `ceil`, `abs`,
//! `min`, `max` and `coalesce`. It runs in graft, never in SQL, so nothing from a
//! representation ever reaches a statement.
//!
//! Semantics: integers stay integers under `+ - * %` (overflow is an error); `/` always gives a
//! float; `round`, `floor` and `ceil` give integers; a null operand makes the result null, except
//! in `coalesce`, which gives its first non-null argument. Division by zero is an error.

use std::fmt;

/// A parsed expression.
#[derive(Debug, Clone, PartialEq)]
pub struct Expression {
    root: Node,
    variables: Vec<String>,
}

/// A value during evaluation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Number {
    /// No value.
    Null,
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
}

/// Why an expression could not be evaluated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvaluationError(pub String);

impl fmt::Display for EvaluationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Number(Number),
    /// Index into [`Expression::variables`].
    Variable(usize),
    Negate(Box<Node>),
    Binary(Operator, Box<Node>, Box<Node>),
    Call(Function, Vec<Node>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operator {
    Add,
    Subtract,
    Multiply,
    Divide,
    Remainder,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Function {
    Round,
    Floor,
    Ceil,
    Abs,
    Min,
    Max,
    Coalesce,
}

impl Function {
    fn by_name(name: &str) -> Option<Function> {
        Some(match name {
            "round" => Function::Round,
            "floor" => Function::Floor,
            "ceil" => Function::Ceil,
            "abs" => Function::Abs,
            "min" => Function::Min,
            "max" => Function::Max,
            "coalesce" => Function::Coalesce,
            _ => return None,
        })
    }

    /// The number of arguments taken: exactly `n`, or at least `n` when variadic.
    fn arity(self) -> (usize, bool) {
        match self {
            Function::Round | Function::Floor | Function::Ceil | Function::Abs => (1, false),
            Function::Min | Function::Max | Function::Coalesce => (1, true),
        }
    }
}

impl Expression {
    /// Parses `text`; the error says what was expected and at which character.
    pub fn parse(text: &str) -> Result<Expression, String> {
        // Evaluation recurses once per operator: a bounded text bounds the recursion.
        if text.len() > MAX_LENGTH {
            return Err(format!(
                "the expression is {} characters long; at most {MAX_LENGTH} are allowed",
                text.len()
            ));
        }
        let mut parser = Parser {
            text,
            position: 0,
            variables: Vec::new(),
            depth: 0,
        };
        let root = parser.expression()?;
        parser.skip_space();
        if parser.position < text.len() {
            return Err(parser.error("an operator or the end of the expression"));
        }
        Ok(Expression {
            root,
            variables: parser.variables,
        })
    }

    /// The fields the expression reads, dotted for nested ones (`dimensions.weight`), each
    /// once, in first-use order. [`Expression::evaluate`] takes their values in this order.
    pub fn variables(&self) -> &[String] {
        &self.variables
    }

    /// Evaluates the expression with `values[i]` for variable `i`.
    pub fn evaluate(&self, values: &[Number]) -> Result<Number, EvaluationError> {
        evaluate(&self.root, values)
    }
}

fn evaluate(node: &Node, values: &[Number]) -> Result<Number, EvaluationError> {
    Ok(match node {
        Node::Number(n) => *n,
        Node::Variable(i) => values.get(*i).copied().unwrap_or(Number::Null),
        Node::Negate(inner) => match evaluate(inner, values)? {
            Number::Null => Number::Null,
            Number::Int(i) => Number::Int(i.checked_neg().ok_or_else(overflow)?),
            Number::Float(f) => Number::Float(-f),
        },
        Node::Binary(op, left, right) => {
            let (left, right) = (evaluate(left, values)?, evaluate(right, values)?);
            binary(*op, left, right)?
        }
        Node::Call(function, arguments) => {
            let mut evaluated = Vec::with_capacity(arguments.len());
            for argument in arguments {
                evaluated.push(evaluate(argument, values)?);
            }
            call(*function, &evaluated)?
        }
    })
}

fn overflow() -> EvaluationError {
    EvaluationError("integer overflow".to_owned())
}

fn as_float(n: Number) -> f64 {
    match n {
        Number::Int(i) => i as f64,
        Number::Float(f) => f,
        Number::Null => f64::NAN,
    }
}

fn binary(op: Operator, left: Number, right: Number) -> Result<Number, EvaluationError> {
    if matches!(left, Number::Null) || matches!(right, Number::Null) {
        return Ok(Number::Null);
    }
    let zero = |n: Number| matches!(n, Number::Int(0)) || matches!(n, Number::Float(f) if f == 0.0);
    if matches!(op, Operator::Divide | Operator::Remainder) && zero(right) {
        return Err(EvaluationError("division by zero".to_owned()));
    }
    if let (Number::Int(a), Number::Int(b)) = (left, right) {
        let result = match op {
            Operator::Add => a.checked_add(b),
            Operator::Subtract => a.checked_sub(b),
            Operator::Multiply => a.checked_mul(b),
            Operator::Remainder => a.checked_rem(b),
            Operator::Divide => return Ok(Number::Float(a as f64 / b as f64)),
        };
        return result.map(Number::Int).ok_or_else(overflow);
    }
    let (a, b) = (as_float(left), as_float(right));
    Ok(Number::Float(match op {
        Operator::Add => a + b,
        Operator::Subtract => a - b,
        Operator::Multiply => a * b,
        Operator::Divide => a / b,
        Operator::Remainder => a % b,
    }))
}

fn to_int(f: f64) -> Result<Number, EvaluationError> {
    // i64::MAX as f64 rounds up to 2^63, hence the strict bound.
    if f.is_finite() && f >= i64::MIN as f64 && f < i64::MAX as f64 {
        Ok(Number::Int(f as i64))
    } else {
        Err(EvaluationError(format!("{f} does not fit an integer")))
    }
}

fn call(function: Function, arguments: &[Number]) -> Result<Number, EvaluationError> {
    if function == Function::Coalesce {
        return Ok(arguments
            .iter()
            .copied()
            .find(|n| !matches!(n, Number::Null))
            .unwrap_or(Number::Null));
    }
    if arguments.iter().any(|n| matches!(n, Number::Null)) {
        return Ok(Number::Null);
    }
    let first = arguments[0];
    match function {
        Function::Round | Function::Floor | Function::Ceil => match first {
            Number::Int(i) => Ok(Number::Int(i)),
            Number::Float(f) => to_int(match function {
                Function::Round => f.round(),
                Function::Floor => f.floor(),
                _ => f.ceil(),
            }),
            Number::Null => Ok(Number::Null),
        },
        Function::Abs => match first {
            Number::Int(i) => i.checked_abs().map(Number::Int).ok_or_else(overflow),
            Number::Float(f) => Ok(Number::Float(f.abs())),
            Number::Null => Ok(Number::Null),
        },
        Function::Min | Function::Max => {
            let mut best = first;
            for &n in &arguments[1..] {
                let better = if function == Function::Min {
                    as_float(n) < as_float(best)
                } else {
                    as_float(n) > as_float(best)
                };
                if better {
                    best = n;
                }
            }
            Ok(best)
        }
        Function::Coalesce => unreachable!("handled above"),
    }
}

struct Parser<'t> {
    text: &'t str,
    position: usize,
    variables: Vec<String>,
    /// Nesting of parentheses, calls and signs so far.
    depth: usize,
}

/// How deep an expression may nest: deeper is refused, not a stack overflow.
const MAX_DEPTH: usize = 64;
/// The longest expression text.
const MAX_LENGTH: usize = 1024;

impl<'t> Parser<'t> {
    fn error(&self, expected: &str) -> String {
        match self.text[self.position..].chars().next() {
            Some(found) => format!(
                "expected {expected} at character {}, found `{found}`",
                self.position + 1
            ),
            None => format!("expected {expected} at the end of the expression"),
        }
    }

    fn skip_space(&mut self) {
        let rest = &self.text[self.position..];
        self.position += rest.len() - rest.trim_start().len();
    }

    fn peek(&mut self) -> Option<char> {
        self.skip_space();
        self.text[self.position..].chars().next()
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.position += c.len_utf8();
            true
        } else {
            false
        }
    }

    fn expression(&mut self) -> Result<Node, String> {
        let mut left = self.term()?;
        loop {
            let op = match self.peek() {
                Some('+') => Operator::Add,
                Some('-') => Operator::Subtract,
                _ => return Ok(left),
            };
            self.position += 1;
            left = Node::Binary(op, Box::new(left), Box::new(self.term()?));
        }
    }

    fn term(&mut self) -> Result<Node, String> {
        let mut left = self.unary()?;
        loop {
            let op = match self.peek() {
                Some('*') => Operator::Multiply,
                Some('/') => Operator::Divide,
                Some('%') => Operator::Remainder,
                _ => return Ok(left),
            };
            self.position += 1;
            left = Node::Binary(op, Box::new(left), Box::new(self.unary()?));
        }
    }

    fn unary(&mut self) -> Result<Node, String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(format!(
                "the expression nests deeper than {MAX_DEPTH} at character {}",
                self.position + 1
            ));
        }
        let node = if self.eat('-') {
            self.unary().map(|inner| Node::Negate(Box::new(inner)))
        } else {
            self.primary()
        };
        self.depth -= 1;
        node
    }

    fn primary(&mut self) -> Result<Node, String> {
        match self.peek() {
            Some('(') => {
                self.position += 1;
                let inner = self.expression()?;
                if !self.eat(')') {
                    return Err(self.error("`)`"));
                }
                Ok(inner)
            }
            Some(c) if c.is_ascii_digit() || c == '.' => self.number(),
            Some(c) if c.is_ascii_alphabetic() || c == '_' => {
                let start = self.position;
                let name = self.name();
                if self.eat('(') {
                    let function = Function::by_name(name).ok_or_else(|| {
                        format!(
                            "unknown function `{name}` at character {} (known: round, floor, ceil, abs, min, max, coalesce)",
                            start + 1
                        )
                    })?;
                    let mut arguments = Vec::new();
                    if !self.eat(')') {
                        loop {
                            arguments.push(self.expression()?);
                            if self.eat(')') {
                                break;
                            }
                            if !self.eat(',') {
                                return Err(self.error("`,` or `)`"));
                            }
                        }
                    }
                    let (arity, variadic) = function.arity();
                    if arguments.len() < arity || (!variadic && arguments.len() > arity) {
                        return Err(format!(
                            "`{name}` takes {}{arity} argument(s), not {}",
                            if variadic { "at least " } else { "" },
                            arguments.len()
                        ));
                    }
                    return Ok(Node::Call(function, arguments));
                }
                let mut path = name.to_owned();
                while self.text[self.position..].starts_with('.') {
                    self.position += 1;
                    let part = self.name();
                    if part.is_empty() {
                        return Err(self.error("a field name after `.`"));
                    }
                    path.push('.');
                    path.push_str(part);
                }
                let index = match self.variables.iter().position(|v| *v == path) {
                    Some(index) => index,
                    None => {
                        self.variables.push(path);
                        self.variables.len() - 1
                    }
                };
                Ok(Node::Variable(index))
            }
            _ => Err(self.error("a number, a field, a function call or `(`")),
        }
    }

    fn name(&mut self) -> &'t str {
        let rest = &self.text[self.position..];
        let length = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        self.position += length;
        &rest[..length]
    }

    fn number(&mut self) -> Result<Node, String> {
        let rest = &self.text[self.position..];
        let length = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let literal = &rest[..length];
        let number = if literal.contains('.') {
            literal.parse::<f64>().ok().map(Number::Float)
        } else {
            literal.parse::<i64>().ok().map(Number::Int)
        };
        match number {
            Some(n) => {
                self.position += length;
                Ok(Node::Number(n))
            }
            None => Err(format!(
                "`{literal}` at character {} is not a number",
                self.position + 1
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(text: &str, values: &[Number]) -> Result<Number, EvaluationError> {
        Expression::parse(text).unwrap().evaluate(values)
    }

    #[test]
    fn arithmetic_with_precedence_and_integer_rules() {
        assert_eq!(eval("1 + 2 * 3", &[]), Ok(Number::Int(7)));
        assert_eq!(eval("(1 + 2) * 3", &[]), Ok(Number::Int(9)));
        assert_eq!(eval("7 / 2", &[]), Ok(Number::Float(3.5)));
        assert_eq!(eval("7 % 4 - -1", &[]), Ok(Number::Int(4)));
        assert_eq!(eval("round(1337 / 10)", &[]), Ok(Number::Int(134)));
        assert_eq!(eval("floor(2.7) + ceil(2.1)", &[]), Ok(Number::Int(5)));
        assert_eq!(eval("max(1, 2.5, 2)", &[]), Ok(Number::Float(2.5)));
        assert_eq!(eval("min(3, abs(-4))", &[]), Ok(Number::Int(3)));
    }

    #[test]
    fn variables_in_first_use_order_nested_with_dots() {
        let expression =
            Expression::parse("round(total / years) + total * dimensions.weight").expect("parses");
        assert_eq!(
            expression.variables(),
            ["total", "years", "dimensions.weight"]
        );
        let values = [Number::Int(1337), Number::Int(10), Number::Float(0.5)];
        assert_eq!(expression.evaluate(&values), Ok(Number::Float(802.5)));
    }

    #[test]
    fn null_propagates_except_through_coalesce() {
        assert_eq!(eval("a + 1", &[Number::Null]), Ok(Number::Null));
        assert_eq!(eval("round(a)", &[Number::Null]), Ok(Number::Null));
        assert_eq!(
            eval("coalesce(a, 0) + 1", &[Number::Null]),
            Ok(Number::Int(1))
        );
    }

    #[test]
    fn runtime_errors_are_reported_not_panicked() {
        assert!(eval("1 / a", &[Number::Int(0)]).is_err());
        assert!(eval("a % 0", &[Number::Int(5)]).is_err());
        assert!(eval("a + 1", &[Number::Int(i64::MAX)]).is_err());
        assert!(eval("-a", &[Number::Int(i64::MIN)]).is_err());
        assert!(eval("round(a)", &[Number::Float(1e300)]).is_err());
    }

    proptest::proptest! {
        /// Schema text is outside input: any string parses or is refused, never a panic.
        #[test]
        fn any_text_parses_or_is_refused(text in "[a-z0-9_.+*/%(), -]{0,40}") {
            let _ = Expression::parse(&text);
        }

        /// Any values evaluate or give an error, never a panic (overflow, zero, huge floats).
        #[test]
        fn any_values_evaluate_or_fail(
            a in proptest::prelude::any::<i64>(),
            b in proptest::prelude::any::<f64>(),
            c in proptest::prelude::any::<i64>(),
        ) {
            let expression = Expression::parse(
                "round(a / b) + floor(c * a) - ceil(b % c) + abs(-a) * max(a, b, c) - min(coalesce(a, b), c)",
            )
            .expect("parses");
            let _ = expression.evaluate(&[Number::Int(a), Number::Float(b), Number::Int(c)]);
        }
    }

    #[test]
    fn parse_errors_say_what_and_where() {
        let error = |text: &str| Expression::parse(text).unwrap_err();
        assert!(
            error("1 +").contains("end of the expression"),
            "{}",
            error("1 +")
        );
        assert!(error("sqrt(2)").contains("unknown function `sqrt`"));
        assert!(error("round(1, 2)").contains("takes 1 argument"));
        assert!(error("(1 + 2").contains("`)`"));
        assert!(error("1 $ 2").contains("character 3"), "{}", error("1 $ 2"));
        assert!(error("1..2").contains("not a number"));
        assert!(error("a.").contains("field name after"));
        assert!(error(&"(".repeat(1_000)).contains("nests deeper than 64"));
        assert!(error(&"-".repeat(1_000)).contains("nests deeper than 64"));
        assert!(error(&"round(".repeat(100)).contains("nests deeper than 64"));
        assert!(error(&"1+".repeat(10_000)).contains("at most 1024"));
        let longest_chain = format!("{}1", "1+".repeat(511));
        assert_eq!(
            Expression::parse(&longest_chain)
                .expect("parses")
                .evaluate(&[]),
            Ok(Number::Int(512))
        );
    }
}
