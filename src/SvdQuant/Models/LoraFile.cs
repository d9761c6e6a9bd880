using System;
using System.Collections.Generic;
using SvdQuant.Native;

namespace SvdQuant.Models;

/// <summary>
/// A LoRA file as parsed and checked by the engine, not yet matched to a model: its key style,
/// modules (rank, alpha, widths) and the keys that belong to no module. Add it to a model with
/// <see cref="FluxLoraCollection.Add(Engine, LoraFile, float, string?)"/> or merge it before
/// quantization (<see cref="Quantization.QuantizerOptions.Loras"/>).
/// </summary>
public sealed class LoraFile : IDisposable
{
    private readonly SvdqLoraHandle _handle;

    private LoraFile(SvdqLoraHandle handle, string path)
    {
        _handle = handle;
        Path = path;
        (KeyStyle, Modules, UnusedKeys, FluxModuleCount, MinRank, MaxRank, MissingAlphaCount) = Read(handle);
    }

    /// <summary>The path it was loaded from.</summary>
    public string Path { get; }

    /// <summary>The naming scheme of its keys.</summary>
    public LoraKeyStyle KeyStyle { get; }

    /// <summary>The modules with a down and an up matrix, in the file's key order.</summary>
    public IReadOnlyList<LoraModule> Modules { get; }

    /// <summary>Every key that belongs to no module.</summary>
    public IReadOnlyList<string> UnusedKeys { get; }

    /// <summary>Modules whose names are FLUX.1 transformer modules.</summary>
    public int FluxModuleCount { get; }

    /// <summary>The smallest module rank.</summary>
    public int MinRank { get; }

    /// <summary>The largest module rank.</summary>
    public int MaxRank { get; }

    /// <summary>Modules without an alpha in the file, whose alpha defaults to their rank (scale 1).</summary>
    public int MissingAlphaCount { get; }

    /// <summary>The native LoRA, for the calls that add or merge it; throws once disposed.</summary>
    internal SvdqLoraHandle Handle => _handle.NotDisposed(nameof(LoraFile));

    /// <summary>Reads and checks the whole file (diffusers/PEFT, kohya or BFL keys; F32, F16 or BF16).</summary>
    /// <exception cref="SvdQuantException">
    /// A missing or unreadable file (<see cref="StatusCode.Io"/>), no LoRA keys or half a pair
    /// (<see cref="StatusCode.Format"/>), ranks that differ between down and up (<see cref="StatusCode.ShapeMismatch"/>),
    /// another dtype (<see cref="StatusCode.DType"/>), NaN or Inf (<see cref="StatusCode.NonFinite"/>), the key named.
    /// </exception>
    public static unsafe LoraFile Load(string path)
    {
        if (path is null)
        {
            throw new ArgumentNullException(nameof(path));
        }

        NativeLibraryCheck.EnsureCompatible();
        SvdqLoraHandle lora;
        byte[] utf8 = NativeText.ToUtf8(path);
        fixed (byte* pathData = utf8)
        {
            NativeStatus.Check(NativeMethods.svdq_lora_load(pathData, out lora));
        }

        return OwnedHandle.Adopt(lora, handle => new LoraFile(handle, path));
    }

    /// <summary>Frees the native LoRA (models it was added to keep what they need). Calling it again does nothing.</summary>
    public void Dispose() => _handle.Dispose();

    private static unsafe (LoraKeyStyle, LoraModule[], string[], int, int, int, int) Read(SvdqLoraHandle handle)
    {
        svdq_lora_info info = default;
        info.struct_size = (uint)sizeof(svdq_lora_info);
        NativeStatus.Check(NativeMethods.svdq_lora_get_info(handle, &info));

        var modules = new LoraModule[info.module_count];
        for (int i = 0; i < modules.Length; i++)
        {
            svdq_lora_module m = default;
            m.struct_size = (uint)sizeof(svdq_lora_module);
            NativeStatus.Check(NativeMethods.svdq_lora_get_module(handle, i, &m));
            modules[i] = new LoraModule(
                NativeText.FromUtf8(m.name), m.rank, m.alpha, m.alpha_given != 0, m.in_features, m.out_features, m.is_flux_module != 0);
        }

        var unused = new string[info.unused_key_count];
        for (int i = 0; i < unused.Length; i++)
        {
            byte* key;
            NativeStatus.Check(NativeMethods.svdq_lora_get_unused_key(handle, i, &key));
            unused[i] = NativeText.FromUtf8(key);
        }

        return ((LoraKeyStyle)info.key_style, modules, unused, info.flux_module_count, info.min_rank, info.max_rank, info.missing_alpha_count);
    }
}
