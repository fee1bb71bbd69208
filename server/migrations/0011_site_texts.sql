-- A site owner's own words for the widget, per language and key (JSON:
-- {"de": {"pay": "Jetzt zahlen"}}), on top of the shipped translations. Expand-only.

ALTER TABLE sites ADD COLUMN texts TEXT;
