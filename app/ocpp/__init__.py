"""The OCPP 1.6J gateway: real chargers over WebSocket, carried onto the MQTT contract both ways."""
