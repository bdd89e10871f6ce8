#pragma once
// Stand-in for the CUDA runtime header: the emulation declares what is used.
#include "cuda_emu.h"
