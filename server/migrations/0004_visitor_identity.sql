-- Who the visitor is, when the host page says so (chatpay.setVisitor), for agents.
ALTER TABLE conversations ADD COLUMN visitor_name TEXT;
ALTER TABLE conversations ADD COLUMN visitor_email TEXT;
