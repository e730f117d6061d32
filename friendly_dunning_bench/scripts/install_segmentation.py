"""Time what installing friendly_dunning computes: every customer's
segmentation (the post-init hook's refresh), from empty columns.

Run in ``odoo shell`` on a copy of a dataset template (it commits):

    odoo shell --addons-path=. -d <copy> --no-http \
        < friendly_dunning_bench/scripts/install_segmentation.py

Each of three rounds empties the segmentation columns, vacuums res_partner (a
fresh install meets its new columns empty, not a table of the dead row
versions the emptying left) and times the refresh; prints each round and the
median.
"""

import statistics
import subprocess
import time

from odoo.tools import SQL, config

from odoo.addons.friendly_dunning.models.res_partner_segmentation import (
    SEGMENTATION_COLUMNS,
)

ROUNDS = 3
env = globals()["env"]  # the odoo shell's environment
PSQL = ["psql", "-d", env.cr.dbname, "-qc", "VACUUM res_partner"]
if config["db_host"]:
    PSQL += ["-h", config["db_host"]]
if config["db_user"]:
    PSQL += ["-U", config["db_user"]]

timings = []
for _round in range(ROUNDS):
    env.cr.execute(
        SQL(
            "UPDATE res_partner SET %s WHERE dunning_score IS NOT NULL",
            SQL(", ").join(
                SQL("%s = NULL", SQL.identifier(column))
                for column in SEGMENTATION_COLUMNS
            ),
        )
    )
    env.cr.commit()
    subprocess.run(PSQL, check=True)
    env.invalidate_all()
    start = time.perf_counter()
    env["res.partner"]._dunning_refresh_segmentation()
    env.flush_all()
    env.cr.commit()
    timings.append(time.perf_counter() - start)
    env.cr.execute("SELECT count(*) FROM res_partner WHERE dunning_score IS NOT NULL")
    customers = env.cr.fetchone()[0]
    print(f"round {len(timings)}: {timings[-1]:.2f} s, {customers} customers")
rounds = [round(timing, 2) for timing in timings]
print(f"median {statistics.median(timings):.2f} s, rounds {rounds}")
