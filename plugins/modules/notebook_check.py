#!/usr/bin/python
"""Module hdfgroup.hdfhub.notebook_check: run a check of notebooks unless the
same notebooks already passed it in the same environments."""
import glob
import hashlib
import json
import os

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: notebook_check
short_description: Run notebooks' check again only when they or their environments changed
description:
  - >-
    Runs O(command), which checks notebooks (for example jupyter-execute in a
    sandbox), and fails with its output if it fails. After a pass it keeps a
    fingerprint of what was checked in O(stamp); while the fingerprint is
    the same, the command does not run again and nothing is reported as
    changed.
  - >-
    The fingerprint covers the command itself; the name, size and
    modification time of every file in O(inputs); the kernel spec that each
    notebook names; and the packages installed in each kernel's
    environment and in O(environments). A notebook, a lesson's data file, a
    kernel or a package that changes makes the check run again.
  - In check mode the command never runs; a differing fingerprint reports changed.
options:
  command:
    description: The check, as an argument vector. Exit status 0 means the notebooks passed.
    type: list
    elements: str
    required: true
  inputs:
    description: Notebooks, and directories whose files (outside C(.git)) the check reads.
    type: list
    elements: path
    required: true
  stamp:
    description: The file that keeps the fingerprint of the last pass.
    type: path
    required: true
  environments:
    description: Further environments (prefixes) whose packages the check depends on, e.g. the one running it.
    type: list
    elements: path
    default: []
  kernel_dirs:
    description: Where kernel specs are looked up, in order, after each of O(environments)' own.
    type: list
    elements: path
    default: [/usr/local/share/jupyter/kernels, /usr/share/jupyter/kernels]
"""

EXAMPLES = r"""
- name: Run every featured notebook in the kernel it names
  hdfgroup.hdfhub.notebook_check:
    command: [/opt/hdfhub/envs/hdf5/bin/jupyter-execute, /srv/check/featured/01-h5py-basics.ipynb]
    inputs: [/srv/check/featured/01-h5py-basics.ipynb]
    environments: [/opt/hdfhub/envs/hdf5]
    stamp: /srv/check/featured.passed
"""

RETURN = r"""
checked:
  description: Whether the command ran (or, in check mode, would run).
  returned: always
  type: bool
"""


def input_files(inputs):
    """(path, relative name) of every file the check reads."""
    for top in inputs:
        if not os.path.isdir(top):
            yield top, top
            continue
        for root, dirs, files in os.walk(top):
            dirs[:] = sorted(d for d in dirs if d != ".git")
            for name in sorted(files):
                path = os.path.join(root, name)
                yield path, os.path.relpath(path, top)


def kernel_name(path):
    """The kernel a notebook names (python3 if none, as nbclient assumes)."""
    try:
        with open(path, encoding="utf-8") as f:
            notebook = json.load(f)
        return notebook["metadata"]["kernelspec"]["name"]
    except (OSError, ValueError, KeyError, TypeError):
        return "python3"


def packages(prefix):
    """What is installed in an environment: its dist-info and conda records."""
    found = glob.glob(os.path.join(prefix, "lib", "python*", "site-packages", "*.dist-info"))
    found += glob.glob(os.path.join(prefix, "conda-meta", "*.json"))
    return sorted(os.path.basename(p) for p in found)


def kernel(name, search):
    """The kernel spec's text and its environment's packages, or None."""
    for directory in search:
        spec = os.path.join(directory, name, "kernel.json")
        try:
            with open(spec, encoding="utf-8") as f:
                text = f.read()
        except OSError:
            continue
        try:
            python = json.loads(text)["argv"][0]
        except (ValueError, KeyError, IndexError, TypeError):
            return {"spec": text}
        return {"spec": text, "packages": packages(os.path.dirname(os.path.dirname(python)))}
    return None


def fingerprint(params):
    files, kernels = [], set()
    for path, name in input_files(params["inputs"]):
        try:
            st = os.stat(path)
        except OSError:
            files.append([name, None])
            continue
        files.append([name, st.st_size, st.st_mtime_ns])
        if path.endswith(".ipynb") and "/.ipynb_checkpoints/" not in path:
            kernels.add(kernel_name(path))
    search = [os.path.join(p, "share", "jupyter", "kernels") for p in params["environments"]]
    search += params["kernel_dirs"]
    described = {
        "command": params["command"],
        "files": files,
        "kernels": {name: kernel(name, search) for name in sorted(kernels)},
        "environments": {p: packages(p) for p in params["environments"]},
    }
    return hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()


def main():
    module = AnsibleModule(
        argument_spec={
            "command": {"type": "list", "elements": "str", "required": True},
            "inputs": {"type": "list", "elements": "path", "required": True},
            "stamp": {"type": "path", "required": True},
            "environments": {"type": "list", "elements": "path", "default": []},
            "kernel_dirs": {"type": "list", "elements": "path",
                            "default": ["/usr/local/share/jupyter/kernels",
                                        "/usr/share/jupyter/kernels"]},
        },
        supports_check_mode=True,
    )
    p = module.params
    current = fingerprint(p)
    try:
        with open(p["stamp"], encoding="ascii") as f:
            passed = f.read().strip()
    except OSError:
        passed = None
    if passed == current:
        module.exit_json(changed=False, checked=False)
    if module.check_mode:
        module.exit_json(changed=True, checked=True)
    # A failed check must not leave an old pass standing for what changed.
    if passed is not None:
        os.unlink(p["stamp"])
    rc, out, err = module.run_command(p["command"])
    if rc != 0:
        module.fail_json(msg=f"The notebook check failed (exit status {rc}):\n"
                             f"{(out + err)[-4000:]}", rc=rc, checked=True)
    with open(p["stamp"] + ".new", "w", encoding="ascii") as f:
        f.write(current + "\n")
    os.replace(p["stamp"] + ".new", p["stamp"])
    module.exit_json(changed=True, checked=True)


if __name__ == "__main__":
    main()
