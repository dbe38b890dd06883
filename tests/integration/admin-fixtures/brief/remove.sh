#!/bin/bash
TOKEN="wasimancer-rocks"
REMOVE_ENDPOINT="http://localhost:3001/remove-plugin"
PLUGIN_NAME="roll-dice"

curl -X DELETE ${REMOVE_ENDPOINT}/${PLUGIN_NAME} \
  -H "Authorization: Bearer ${TOKEN}"
