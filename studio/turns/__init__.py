"""The turns every surface shares: a chat turn (`chat`, over the stored `conversation`), an image
(`images`), one call's caller, metrics and log line (`calls`), the sentences that say why a call
failed (`failures`), and names for the files people save (`download_names`).

They take and return plain data: nothing here knows of Gradio, a route or a terminal.
"""
