//! The order operations run in: waves of a deterministic topological sort, or a cycle.

use super::BatchOperation;

/// The waves of `operations`, or a cycle (positions, first repeated at the end).
pub(super) fn waves(operations: &[BatchOperation]) -> Result<Vec<Vec<usize>>, Vec<usize>> {
    let mut wave_of: Vec<Option<usize>> = vec![None; operations.len()];
    let mut waves: Vec<Vec<usize>> = Vec::new();
    let mut placed = 0;
    while placed < operations.len() {
        let ready: Vec<usize> = (0..operations.len())
            .filter(|&i| wave_of[i].is_none())
            .filter(|&i| {
                operations[i]
                    .depends_on
                    .iter()
                    .all(|&d| wave_of[d].is_some())
            })
            .collect();
        if ready.is_empty() {
            return Err(cycle(operations, &wave_of));
        }
        for &i in &ready {
            wave_of[i] = Some(waves.len());
        }
        placed += ready.len();
        waves.push(ready);
    }
    Ok(waves)
}

/// A cycle among the operations not placed: follow unplaced dependencies until one repeats.
fn cycle(operations: &[BatchOperation], wave_of: &[Option<usize>]) -> Vec<usize> {
    let start = (0..operations.len())
        .find(|&i| wave_of[i].is_none())
        .expect("an operation is left");
    let mut path = vec![start];
    let mut current = start;
    loop {
        let next = operations[current]
            .depends_on
            .iter()
            .copied()
            .find(|&d| wave_of[d].is_none())
            .expect("an unplaced operation waits on another unplaced one");
        if let Some(at) = path.iter().position(|&p| p == next) {
            let mut cycle = path[at..].to_vec();
            cycle.push(next);
            return cycle;
        }
        path.push(next);
        current = next;
    }
}
