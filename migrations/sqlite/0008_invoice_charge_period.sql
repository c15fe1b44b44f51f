-- The period each invoice-charged message was charged in: a refund of it belongs there,
-- and once that invoice is issued, on the next open one as an adjustment naming it.
ALTER TABLE view_invoice_messages ADD COLUMN charge_period TEXT;
