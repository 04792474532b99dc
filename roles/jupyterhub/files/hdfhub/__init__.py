"""hdfhub's code inside the hub, installed by the jupyterhub role into
jupyterhub_lib_dir (on the hub's PYTHONPATH):

- users: the user model, how a hub name maps to a Unix account (the
  collection's filters load the same file, so Ansible and the hub agree);
- spawner: HdfhubSpawner, SystemdSpawner with hdfhub's confinement;
- guests: the "Try it" button and the guests' accounts;
- native: the native authenticator preset's subclass;
- hsds: HSDS credentials and folders for each user (roles/hsds).
"""
