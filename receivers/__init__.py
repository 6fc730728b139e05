"""What brings a platform's messages in where no webhook does: the Telegram and X
pollers, the IMAP fetcher and our own SMTP server, with the mail intake both mail paths
store through. Each reads its platform through a connector (connectors/) and stores what
it gets through the intake (inbox/intake.py)."""
