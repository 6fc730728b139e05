"""Real mail servers for tests: dovecot (IMAP) as a plain daemon, aiosmtpd (SMTP)."""
