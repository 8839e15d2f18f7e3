"""`chatwootai demo`: the appliance against a built-in Chatwoot simulator, in the terminal."""
