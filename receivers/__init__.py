"""What brings a platform's messages in where no webhook does: the Telegram and X
pollers, the IMAP fetcher and our own SMTP server. Each reads its platform through a
connector (connectors/) and stores what it gets through the intake (inbox/intake.py)."""
