"""Runs the third-party SCIM compliance checker scim2-tester (PyPI) against a running service
provider and prints one JSON object: every check's status, title, resource type and reason.

    python scim_compliance.py BASE_URL   (the bearer token comes from SCIM_TOKEN)
"""

import json
import os
import sys

from httpx2 import Client
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import check_server


def main() -> None:
    base_url = sys.argv[1]
    headers = {"Authorization": f"Bearer {os.environ['SCIM_TOKEN']}"}
    client = SyncSCIMClient(Client(base_url=base_url, headers=headers))
    results = check_server(client)
    print(
        json.dumps(
            [
                {
                    "status": result.status.name,
                    "title": result.title,
                    "resource_type": result.resource_type,
                    "reason": None if result.reason is None else str(result.reason)[:500],
                }
                for result in results
            ]
        )
    )


if __name__ == "__main__":
    main()
