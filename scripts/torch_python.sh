# SPDX-License-Identifier: MIT
# Sourced by the scripts that run PyTorch: torch_python prints the first Python that can
# import torch ($PYTHON, then python3, then /usr/bin/python3), or nothing.
torch_python() {
    local p
    for p in ${PYTHON:-} python3 /usr/bin/python3; do
        if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import torch' >/dev/null 2>&1; then
            echo "$p"
            return
        fi
    done
}
