-- CREATE TABLE commented (id int);
CREATE TABLE users (
    id bigint PRIMARY KEY
);
create unique index if not exists users_email_idx on users (email);
CREATE OR REPLACE FUNCTION touch() RETURNS trigger AS $$
BEGIN
  RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE VIEW active_users AS SELECT * FROM users;
