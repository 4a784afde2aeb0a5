"""Emulated arithmetic: the Emulator handed to a model and the EmulatedArray it makes.

    emu = Emulator(Format(10), mode="stochastic", seed=7, components={"physics": 23})
    x = emu.asarray(np.linspace(0, 1, 5))     # every numpy operation on x is rounded
    with emu.component("physics"):
        y = x * 3.0 + 1.0                     # rounded to 23 sbits here

Modules: emulator.py (the Emulator), array.py (the array type and its two dispatch methods),
rules.py (the tables of what is emulated and how), compound.py (sums, contractions and FFTs
under the fused and sequential policies), sequential.py (the sequential contraction kernels),
fourier.py (the sequential FFT), twiddles.py (its constants), roundop.py (rounding inside the
sequential kernels).
"""
from lowprec.emulated.array import EmulatedArray
from lowprec.emulated.emulator import ComponentSetting, Emulator

__all__ = ["Emulator", "EmulatedArray", "ComponentSetting"]
