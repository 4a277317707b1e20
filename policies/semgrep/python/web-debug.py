import os

from flask import Flask

app = Flask(__name__)
# ruleid: python-web-debug-enabled
app.config["DEBUG"] = True
# ruleid: python-web-debug-enabled
DEBUG = True

if __name__ == "__main__":
    # ruleid: python-web-debug-enabled
    app.run(host="127.0.0.1", debug=True)
    # ok: python-web-debug-enabled
    app.run(host="127.0.0.1", debug=os.environ.get("FLASK_DEBUG") == "1")
    # ok: python-web-debug-enabled
    app.run(debug=False)
