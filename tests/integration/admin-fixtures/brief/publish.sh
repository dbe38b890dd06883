#!/bin/bash
TOKEN="wasimancer-rocks"
UPLOAD_ENDPOINT="http://localhost:3001/upload-plugin"
WASM_FILE="./wasimancer-plugin-roll-dice.wasm"

read -r -d '' DATA <<- EOM
{
  "name": "roll-dice",
  "path": "./bucket/wasimancer-plugin-roll-dice.wasm",
  "version": "1.0.0",
  "description": "roll dice",
  "functions": [
    {
      "displayName": "rollDice",
      "function": "rollDice",
      "arguments": [
        {
          "name": "numFaces",
          "type": "number",
          "description": "number of faces on the dice"
        },
        {
          "name": "numDice",
          "type": "number",
          "description": "number of dice to roll"
        }
      ],
      "description": "a function to roll dice"
    }
  ]
}
EOM

curl -X POST ${UPLOAD_ENDPOINT} \
  -H "Authorization: Bearer ${TOKEN}" \
  -F "wasmFile=@${WASM_FILE}" \
  -F "pluginData=${DATA}"
