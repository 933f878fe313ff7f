-- A small music store in the shape of the Chinook sample database, to try `graft init` on:
-- a self-reference (employee.reports_to), two foreign keys to one table
-- (invoice.customer_id, invoice.billing_contact_id), a composite key (playlist_track), money
-- in numeric columns, timestamps, dates and a uuid. README.md's first hour starts here:
--   psql -h 127.0.0.1 -U postgres -c 'CREATE DATABASE music'
--   psql -h 127.0.0.1 -U postgres -d music -f examples/music/postgres.sql
CREATE TABLE artist (
  artist_id INT PRIMARY KEY,
  name VARCHAR(120) NOT NULL
);
CREATE TABLE album (
  album_id INT PRIMARY KEY,
  title VARCHAR(160) NOT NULL,
  artist_id INT NOT NULL REFERENCES artist (artist_id),
  released_on DATE
);
CREATE TABLE track (
  track_id INT PRIMARY KEY,
  name VARCHAR(200) NOT NULL,
  album_id INT REFERENCES album (album_id),
  milliseconds INT NOT NULL,
  unit_price NUMERIC(10, 2) NOT NULL
);
CREATE TABLE employee (
  employee_id INT PRIMARY KEY,
  last_name VARCHAR(40) NOT NULL,
  first_name VARCHAR(40) NOT NULL,
  reports_to INT REFERENCES employee (employee_id),
  hired_at TIMESTAMP NOT NULL
);
CREATE TABLE customer (
  customer_id INT PRIMARY KEY,
  name VARCHAR(80) NOT NULL,
  email VARCHAR(60) NOT NULL,
  support_rep_id INT REFERENCES employee (employee_id),
  external_id UUID
);
CREATE TABLE invoice (
  invoice_id INT PRIMARY KEY,
  customer_id INT NOT NULL REFERENCES customer (customer_id),
  billing_contact_id INT REFERENCES customer (customer_id),
  issued_at TIMESTAMP NOT NULL,
  total NUMERIC(10, 2) NOT NULL
);
CREATE TABLE invoice_line (
  invoice_line_id INT PRIMARY KEY,
  invoice_id INT NOT NULL REFERENCES invoice (invoice_id),
  track_id INT NOT NULL REFERENCES track (track_id),
  unit_price NUMERIC(10, 2) NOT NULL,
  quantity INT NOT NULL
);
CREATE TABLE playlist (
  playlist_id INT PRIMARY KEY,
  name VARCHAR(120) NOT NULL
);
CREATE TABLE playlist_track (
  playlist_id INT NOT NULL REFERENCES playlist (playlist_id),
  position INT NOT NULL,
  track_id INT NOT NULL REFERENCES track (track_id),
  PRIMARY KEY (playlist_id, position)
);

INSERT INTO artist VALUES (1, 'AC/DC'), (2, 'Accept');
INSERT INTO album VALUES
  (1, 'For Those About To Rock We Salute You', 1, '1981-11-23'),
  (2, 'Balls to the Wall', 2, '1983-12-05');
INSERT INTO track VALUES
  (1, 'For Those About To Rock (We Salute You)', 1, 343719, 0.99),
  (6, 'Put The Finger On You', 1, 205662, 0.99),
  (2, 'Balls to the Wall', 2, 342562, 0.99);
INSERT INTO employee VALUES
  (1, 'Adams', 'Andrew', NULL, '2002-08-14 00:00:00'),
  (2, 'Edwards', 'Nancy', 1, '2002-05-01 00:00:00'),
  (3, 'Peacock', 'Jane', 2, '2002-04-01 00:00:00');
INSERT INTO customer VALUES
  (1, 'Luís Gonçalves', 'luisg@embraer.com.br', 3, '6f1e2a0c-8d4b-4c1e-9a4f-0b1d2c3e4f50'),
  (2, 'Leonie Köhler', 'leonekohler@surfeu.de', 3, NULL);
INSERT INTO invoice VALUES
  (1, 2, NULL, '2021-01-01 00:00:00', 1.98),
  (2, 1, 2, '2021-01-02 00:00:00', 0.99);
INSERT INTO invoice_line VALUES (1, 1, 1, 0.99, 1), (2, 1, 6, 0.99, 1), (3, 2, 2, 0.99, 1);
INSERT INTO playlist VALUES (1, 'Heavy Metal Classic');
INSERT INTO playlist_track VALUES (1, 1, 1), (1, 2, 2);
