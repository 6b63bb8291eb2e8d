"""The `websim` command (`commands`): chat (`chat`), images (`image`), the app and the emulator
from a terminal. Only `websim serve` loads the server, and with it Gradio.
"""
