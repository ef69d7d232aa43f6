-- Version 3: a user's name at the provider (OpenID Connect `preferred_username`, a Hugging Face
-- username), which `ASHLEY_ADMINS` can name. Filled at each user's next sign-in.
ALTER TABLE owners ADD COLUMN username TEXT;
