-- What Stripe says was paid for a Checkout Session, beside what /buy
-- recorded (amount, currency, credits): credits are granted only when the
-- two agree. A session paid with another amount or currency (a discount, a
-- price changed in the Dashboard, a session not made the way /buy makes
-- them) is set aside as 'mismatch', with nothing credited, for an operator.

-- +goose Up
ALTER TABLE payments ADD COLUMN paid_amount bigint, ADD COLUMN paid_currency text;
ALTER TABLE payments DROP CONSTRAINT payments_status_valid,
    ADD CONSTRAINT payments_status_valid
        CHECK (status IN ('pending', 'paid', 'failed', 'refunded', 'partially_refunded', 'mismatch'));

-- +goose Down
ALTER TABLE payments DROP CONSTRAINT payments_status_valid,
    ADD CONSTRAINT payments_status_valid
        CHECK (status IN ('pending', 'paid', 'failed', 'refunded', 'partially_refunded'));
ALTER TABLE payments DROP COLUMN paid_amount, DROP COLUMN paid_currency;
