"""Registers the flow of a generated flow script with the backend the environment points
at (PREFECT__SERVER__ENDPOINT), in the given project. Prints {"flowId": ...} as JSON.
Usage: register.py FLOW_SCRIPT PROJECT"""
import json
import runpy
import sys

import prefect

script, project = sys.argv[1], sys.argv[2]
flow = runpy.run_path(script)["flow"]
client = prefect.Client()
# Idempotent in Server 1: a project that exists already is looked up by name.
client.create_project(project)
flow_id = flow.register(project_name=project, build=True, no_url=True, set_schedule_active=False)
print(json.dumps({"flowId": flow_id}))
