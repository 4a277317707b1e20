"""Everything that talks to the Docker engine: the client, hardened containers, images, labels."""
