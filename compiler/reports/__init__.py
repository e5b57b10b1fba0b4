"""Report writers: pure functions from plain data to SARIF, JUnit, Markdown, HTML and
GitHub annotations. They know nothing of how the data was computed."""
