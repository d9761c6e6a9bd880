using System;
using System.Collections;
using System.Collections.Generic;
using SvdQuant.Native;

namespace SvdQuant.Models;

/// <summary>
/// The LoRAs on a <see cref="FluxTransformer"/>, in the order added, changed at run time without
/// reloading the model: on W4A4 block linears a LoRA joins the fused low-rank branch, on float and
/// W4A16 linears it runs as an unfused branch. A change waits for forwards running on the model and
/// holds new ones until it is done; a failed change leaves the model as it was. With every LoRA
/// removed (or every strength 0) the outputs are the model's own, bit for bit.
/// </summary>
public sealed class FluxLoraCollection : IReadOnlyList<LoadedLora>
{
    private readonly FluxTransformer _model;
    private readonly List<LoadedLora> _loaded = [];

    // One change at a time, so the list mirrors the engine's (the engine serialises them too).
    private readonly object _gate = new();

    internal FluxLoraCollection(FluxTransformer model) => _model = model;

    /// <summary>The number of LoRAs on the model.</summary>
    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _loaded.Count;
            }
        }
    }

    /// <summary>The LoRA at <paramref name="index"/>, in the order added.</summary>
    public LoadedLora this[int index]
    {
        get
        {
            lock (_gate)
            {
                return _loaded[index];
            }
        }
    }

    /// <summary>
    /// Loads the LoRA file at <paramref name="path"/> and adds it at <paramref name="strength"/>,
    /// named by its path. Keys that match nothing are listed in <see cref="LoadedLora.UnmatchedKeys"/>
    /// (and logged in one warning, as is a module whose alpha defaults to its rank).
    /// </summary>
    /// <param name="engine">The engine that prepares the layers' new branches.</param>
    /// <param name="path">A LoRA safetensors file (diffusers/PEFT, kohya or BFL keys).</param>
    /// <param name="strength">s: each module adds s * alpha / rank * B A.</param>
    /// <exception cref="SvdQuantException">
    /// The file's own errors (see <see cref="LoraFile.Load"/>); <see cref="StatusCode.ShapeMismatch"/> naming the
    /// key with the expected and found shape; <see cref="StatusCode.Format"/> when nothing matches the model.
    /// The model is unchanged.
    /// </exception>
    public LoadedLora Add(Engine engine, string path, float strength = 1f)
    {
        if (engine is null)
        {
            throw new ArgumentNullException(nameof(engine));
        }

        using LoraFile file = LoraFile.Load(path ?? throw new ArgumentNullException(nameof(path)));
        return Add(engine, file, strength, path);
    }

    /// <summary>Adds a loaded LoRA file at <paramref name="strength"/>; the model keeps what it needs, so the file may be disposed afterwards.</summary>
    /// <param name="engine">The engine that prepares the layers' new branches.</param>
    /// <param name="file">The LoRA.</param>
    /// <param name="strength">s: each module adds s * alpha / rank * B A.</param>
    /// <param name="name">The name to list it under; null for the file's path.</param>
    /// <exception cref="SvdQuantException">As <see cref="Add(Engine, string, float)"/>; the model is unchanged.</exception>
    public unsafe LoadedLora Add(Engine engine, LoraFile file, float strength = 1f, string? name = null)
    {
        if (engine is null)
        {
            throw new ArgumentNullException(nameof(engine));
        }

        if (file is null)
        {
            throw new ArgumentNullException(nameof(file));
        }

        byte[] utf8Name = NativeText.ToUtf8(name ?? file.Path);
        lock (_gate)
        {
            int id;
            fixed (byte* nameData = utf8Name)
            {
                SvdqFluxHandle model = _model.Handle;
                using EngineCall call = engine.Enter();
                NativeStatus.Check(NativeMethods.svdq_flux_lora_add(call.Context, model, file.Handle, strength, nameData, &id));
            }

            LoadedLora added = Read(_model.Handle, id);
            _loaded.Add(added);
            return added;
        }
    }

    /// <summary>Changes a LoRA's strength; 0 keeps it listed with the model's outputs those without it, bit for bit.</summary>
    /// <exception cref="ArgumentException"><paramref name="lora"/> is not on this model (removed, or another model's).</exception>
    /// <exception cref="SvdQuantException">The engine refused the strength (e.g. not finite); nothing changed.</exception>
    public void SetStrength(Engine engine, LoadedLora lora, float strength)
    {
        if (engine is null)
        {
            throw new ArgumentNullException(nameof(engine));
        }

        lock (_gate)
        {
            RequireLoaded(lora);
            SvdqFluxHandle model = _model.Handle;
            using (EngineCall call = engine.Enter())
            {
                NativeStatus.Check(NativeMethods.svdq_flux_lora_set_strength(call.Context, model, lora.Id, strength));
            }

            lora.Strength = strength;
        }
    }

    /// <summary>Removes a LoRA from the model.</summary>
    /// <exception cref="ArgumentException"><paramref name="lora"/> is not on this model (removed, or another model's).</exception>
    public void Remove(Engine engine, LoadedLora lora)
    {
        if (engine is null)
        {
            throw new ArgumentNullException(nameof(engine));
        }

        lock (_gate)
        {
            RequireLoaded(lora);
            SvdqFluxHandle model = _model.Handle;
            using (EngineCall call = engine.Enter())
            {
                NativeStatus.Check(NativeMethods.svdq_flux_lora_remove(call.Context, model, lora.Id));
            }

            _loaded.Remove(lora);
        }
    }

    /// <summary>Removes every LoRA: the outputs are the model's own again, bit for bit.</summary>
    public void Clear(Engine engine)
    {
        if (engine is null)
        {
            throw new ArgumentNullException(nameof(engine));
        }

        lock (_gate)
        {
            SvdqFluxHandle model = _model.Handle;
            using (EngineCall call = engine.Enter())
            {
                NativeStatus.Check(NativeMethods.svdq_flux_lora_clear(call.Context, model));
            }

            _loaded.Clear();
        }
    }

    /// <summary>The LoRAs as they are now, in the order added (a snapshot: later changes do not affect it).</summary>
    public IEnumerator<LoadedLora> GetEnumerator()
    {
        LoadedLora[] snapshot;
        lock (_gate)
        {
            snapshot = [.. _loaded];
        }

        return ((IEnumerable<LoadedLora>)snapshot).GetEnumerator();
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    private void RequireLoaded(LoadedLora lora)
    {
        if (lora is null)
        {
            throw new ArgumentNullException(nameof(lora));
        }

        if (!_loaded.Contains(lora))
        {
            throw new ArgumentException($"The LoRA '{lora.Name}' (id {lora.Id}) is not on this model: it was removed, or added to another model.", nameof(lora));
        }
    }

    // The engine's record of the LoRA with this id: its match and every unmatched key.
    private static unsafe LoadedLora Read(SvdqFluxHandle model, int id)
    {
        int count;
        NativeStatus.Check(NativeMethods.svdq_flux_lora_count(model, &count));
        for (int index = count - 1; index >= 0; index--)
        {
            svdq_flux_lora_info info = default;
            info.struct_size = (uint)sizeof(svdq_flux_lora_info);
            NativeStatus.Check(NativeMethods.svdq_flux_lora_get_info(model, index, &info));
            if (info.id != id)
            {
                continue;
            }

            var unmatched = new string[info.unmatched_key_count];
            for (int k = 0; k < unmatched.Length; k++)
            {
                byte* key;
                NativeStatus.Check(NativeMethods.svdq_flux_lora_get_unmatched_key(model, index, k, &key));
                unmatched[k] = NativeText.FromUtf8(key);
            }

            return new LoadedLora(id, NativeText.FromUtf8(info.name), info.strength, info.matched_modules, unmatched, info.layer_count);
        }

        throw new SvdQuantException(StatusCode.Internal, $"The engine added LoRA {id} but does not list it.");
    }
}
