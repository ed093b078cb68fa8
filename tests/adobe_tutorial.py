"""Requests copied verbatim from Adobe's on-demand ingestion tutorial, shared by the emulator tests."""

#: Adobe's on-demand ingestion tutorial, table-based source, verbatim (string times, typo included).
TUTORIAL_TABLE_BODY = """{
      "flowId": "3abea21c-7e36-4be1-bec1-d3bad0e3e0de",
      "params": {
          "startTime": "1663735590",
          "windowStartTime": "1651584991",
          "windowEndTime": "16515859567",
          "deltaColumn": {
              "name": "DOB"
          }
      }
  }"""
TUTORIAL_FILE_BODY = """{
      "flowId": "3abea21c-7e36-4be1-bec1-d3bad0e3e0de",
      "params": {
          "startTime": "1663735590",
          "windowStartTime": "1651584991",
          "windowEndTime": "16515859567"
      }
  }"""
