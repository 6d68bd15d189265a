from phm.cli import app

app(prog_name="phm")
