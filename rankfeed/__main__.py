from rankfeed.cli import app

app()
