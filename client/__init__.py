"""tanium-sim reference client: the AQtive Guard evidence workflow over httpx, and the CST trace reader."""
