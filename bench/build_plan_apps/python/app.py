import sqlalchemy
import yaml
from flask import Flask
from pydantic import BaseModel

app = Flask(__name__)


class Greeting(BaseModel):
    text: str


@app.get("/")
def index():
    return Greeting(text=f"hello from flask {sqlalchemy.__version__} {yaml.__version__}").model_dump()
