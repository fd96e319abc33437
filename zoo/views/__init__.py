"""What a run shows and measures beyond its metric curves, one module per claim about neural networks.

Each view is a Lightning callback listed by name in a task's config (`views` in conf/task/<task>.yaml) or,
where it serves every task, in conf/callbacks/default.yaml; `task.views.<name>=null` (or
`callbacks.<name>=null`) switches it off. Views are measurements, not training: what runs while the model
trains runs at epoch ends on a few fixed examples and must leave the training exactly as it would have
been (same random numbers, same batch-norm statistics, same mode); what needs a whole split runs once,
after testing, on the tested weights. A view that measures numbers puts them in its `results` dict
(name -> float): metrics.json and the HPARAMS row (`hp/<name>`) show them.

Each module also keeps its figures and measurements as plain functions of a network and a data module,
which the notebook API (zoo.figures) calls on a finished run.
"""

import contextlib

import torch


@contextlib.contextmanager
def measuring(net: torch.nn.Module, grad: bool = False):
    """Run `net` for a measurement in the middle of a run: in eval mode, with gradients when `grad` (also
    inside Lightning's test loop, which runs under inference mode), with the random number generators put
    back afterwards, and `net` left in the mode it was in. Floating-point inputs are cast to the network's
    own type (a run in `trainer.precision=bf16-true` holds bf16 weights; the data stays float32). With
    `grad`, cuDNN is off: its RNN backward pass runs only in train mode, and batch norm and dropout must
    stay in eval mode."""
    was_training = net.training
    devices = [torch.cuda.current_device()] if torch.cuda.is_available() else []
    dtype = next((p.dtype for p in net.parameters() if p.is_floating_point()), torch.float32)
    cast = net.register_forward_pre_hook(lambda module, inputs: tuple(
        x.to(dtype) if torch.is_tensor(x) and x.is_floating_point() else x for x in inputs))
    with (torch.random.fork_rng(devices=devices), torch.inference_mode(False), torch.set_grad_enabled(grad),
          torch.backends.cudnn.flags(enabled=not grad)):
        net.eval()
        try:
            yield net
        finally:
            net.train(was_training)
            cast.remove()
