using System;
using System.Linq;
using NUnit.Framework;
using SvdQuant.Models;
using SvdQuant.Native;
using SvdQuant.Quantization;

namespace SvdQuant.Tests;

/// <summary>
/// The public enums are cast to and from the native ones, so each must carry exactly
/// the native values under the same names (PascalCase of the C names without prefix).
/// </summary>
public sealed class EnumParityTests
{
    [TestCase(typeof(StatusCode), typeof(svdq_status), "SVDQ_ERROR_", "SVDQ_")]
    [TestCase(typeof(Backend), typeof(svdq_backend), "SVDQ_BACKEND_", null)]
    [TestCase(typeof(CpuLevel), typeof(svdq_cpu_level), "SVDQ_CPU_", null)]
    [TestCase(typeof(LogLevel), typeof(svdq_log_level), "SVDQ_LOG_", null)]
    [TestCase(typeof(LinearScheme), typeof(svdq_linear_scheme), "SVDQ_SCHEME_", null)]
    [TestCase(typeof(Activation), typeof(svdq_activation), "SVDQ_ACTIVATION_", null)]
    [TestCase(typeof(BranchExecution), typeof(svdq_branch_execution), "SVDQ_BRANCH_", null)]
    [TestCase(typeof(NumberFormat), typeof(svdq_number_format), "SVDQ_FORMAT_", null)]
    [TestCase(typeof(QuantizationMethod), typeof(svdq_quant_method), "SVDQ_QUANT_", null)]
    [TestCase(typeof(SmoothSearch), typeof(svdq_smooth_search), "SVDQ_SEARCH_", null)]
    [TestCase(typeof(VaeTiling), typeof(svdq_vae_tiling), "SVDQ_VAE_TILING_", null)]
    [TestCase(typeof(LoraKeyStyle), typeof(svdq_lora_key_style), "SVDQ_LORA_KEYS_", null)]
    public void ManagedEnum_MirrorsNativeEnum(Type managed, Type native, string prefix, string? otherPrefix)
    {
        string Normalise(string cName)
        {
            string bare = cName.StartsWith(prefix, StringComparison.Ordinal) ? cName[prefix.Length..]
                : otherPrefix is not null && cName.StartsWith(otherPrefix, StringComparison.Ordinal) ? cName[otherPrefix.Length..]
                : cName;
            return bare.Replace("_", string.Empty, StringComparison.Ordinal);
        }

        var expected = Enum.GetValues(native).Cast<Enum>()
            .Select(v => (Name: Normalise(v.ToString()), Value: Convert.ToInt32(v, null)))
            .OrderBy(p => p.Value);
        var actual = Enum.GetValues(managed).Cast<Enum>()
            .Select(v => (Name: v.ToString().ToUpperInvariant(), Value: Convert.ToInt32(v, null)))
            .OrderBy(p => p.Value);

        Assert.That(actual, Is.EqualTo(expected));
    }
}
