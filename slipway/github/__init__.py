"""GitHub: the API client, the App, installations, commit statuses, pull request previews and the
handlers of its webhook events."""
