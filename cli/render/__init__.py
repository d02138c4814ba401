"""What people read: terminal tables, progress bars, notice drafts, the HTML report page."""
