namespace SvdQuant.Models;

/// <summary>A function applied to a layer's output after the bias, fused into the kernel.</summary>
public enum Activation
{
    /// <summary>The output as is.</summary>
    None = 0,

    /// <summary>GELU with the tanh approximation: 0.5 y (1 + tanh(sqrt(2/pi) (y + 0.044715 y^3))).</summary>
    GeluTanh = 1,
}
