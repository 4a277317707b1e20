import os

import psycopg2

# ruleid: python-hardcoded-credential
DB_PASSWORD = "hunter2-prod-2024"
# ruleid: python-hardcoded-credential
conn = psycopg2.connect(host="db", user="app", password="Tr0ub4dor&3")
# ruleid: python-hardcoded-credential
settings = {"api_key": "live-4f9a8b7c6d5e"}
# ok: python-hardcoded-credential
API_KEY = os.environ["API_KEY"]
# ok: python-hardcoded-credential
SECRET = "changeme"
# ok: python-hardcoded-credential
token_url = "https://auth.example.invalid/token"
