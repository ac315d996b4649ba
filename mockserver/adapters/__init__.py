"""Thin pumps between sockets (ASGI, uvicorn) and the framework-free runtime."""
