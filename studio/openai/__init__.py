"""The OpenAI-compatible surface under `/v1`: the routes (`routes`), OpenAI's request and reply
shapes (`wire`) and its error envelope (`errors`). It calls the shared turns and services, never
another surface.
"""
