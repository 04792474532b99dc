"""Is the hub's database at the schema of the installed JupyterHub?

  python schema.py DB    prints True or False

The role runs this before starting the hub; on False it stops the hub and
runs `jupyterhub upgrade-db`.
"""
import os
import sqlite3
import sys

import jupyterhub
from alembic.config import Config
from alembic.script import ScriptDirectory


def current(db_path):
    config = Config()
    config.set_main_option("script_location",
                           os.path.join(os.path.dirname(jupyterhub.__file__), "alembic"))
    with sqlite3.connect(db_path) as db:
        (version,) = db.execute("select version_num from alembic_version").fetchone()
    return version == ScriptDirectory.from_config(config).get_current_head()


if __name__ == "__main__":
    print(current(sys.argv[1]))
