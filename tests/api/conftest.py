from support_api import issue_key, session_client, write_counts

__all__ = ["issue_key", "session_client", "write_counts"]
