using System;
using System.IO;
using System.Text.Json;

namespace SvdQuant.Generation;

/// <summary>
/// A diffusers FLUX pipeline folder as published (<c>model_index.json</c>, <c>scheduler/</c>,
/// <c>text_encoder/</c>, <c>text_encoder_2/</c>, <c>tokenizer/</c>, <c>tokenizer_2/</c>,
/// <c>transformer/</c>, <c>vae/</c>): where each component is, checked only when it is asked for,
/// so a run reads only the components it needs.
/// </summary>
internal sealed class FluxPipelineFolder
{
    private FluxPipelineFolder(string root) => Root = root;

    /// <summary>The folder.</summary>
    public string Root { get; }

    /// <summary><c>scheduler/scheduler_config.json</c>, or null when the folder has none (the model's defaults then).</summary>
    public string? SchedulerConfig
    {
        get
        {
            string path = Path.Combine(Root, "scheduler", "scheduler_config.json");
            return File.Exists(path) ? path : null;
        }
    }

    /// <summary>Whether <paramref name="path"/> is a pipeline folder: a folder with <c>model_index.json</c>.</summary>
    public static bool IsPipelineFolder(string path) => File.Exists(Path.Combine(path, "model_index.json"));

    /// <summary>Opens the folder and checks that its <c>model_index.json</c> names a FLUX pipeline.</summary>
    /// <exception cref="SvdQuantException"><see cref="StatusCode.Io"/> when the folder or its model_index.json is missing,
    /// <see cref="StatusCode.Format"/> when the index is not JSON or names another pipeline.</exception>
    public static FluxPipelineFolder Open(string path)
    {
        if (!Directory.Exists(path))
        {
            throw new SvdQuantException(StatusCode.Io, $"{path}: no such folder (a diffusers FLUX pipeline folder is expected)");
        }

        string index = Path.Combine(path, "model_index.json");
        if (!File.Exists(index))
        {
            throw new SvdQuantException(StatusCode.Io, $"{path}: no model_index.json; not a diffusers pipeline folder");
        }

        string? className;
        try
        {
            using JsonDocument json = JsonDocument.Parse(File.ReadAllText(index));
            className = json.RootElement.ValueKind == JsonValueKind.Object && json.RootElement.TryGetProperty("_class_name", out JsonElement name)
                ? name.GetString()
                : null;
        }
        catch (JsonException e)
        {
            throw new SvdQuantException(StatusCode.Format, $"{index}: not valid JSON ({e.Message})");
        }

        // FluxPipeline, FluxImg2ImgPipeline, FluxInpaintPipeline, ... share the components.
        if (className is null || !className.StartsWith("Flux", StringComparison.Ordinal))
        {
            throw new SvdQuantException(StatusCode.Format, $"{index}: _class_name is '{className ?? "missing"}', not a FLUX pipeline");
        }

        return new FluxPipelineFolder(path);
    }

    /// <summary>The component's folder, which must exist.</summary>
    /// <param name="name">e.g. <c>vae</c>.</param>
    /// <param name="neededFor">What needs it, for the error (e.g. "--prompt").</param>
    /// <exception cref="SvdQuantException"><see cref="StatusCode.Io"/> naming the missing component.</exception>
    public string Component(string name, string neededFor)
    {
        string path = Path.Combine(Root, name);
        if (!Directory.Exists(path))
        {
            throw new SvdQuantException(StatusCode.Io, $"{Root}: the FLUX folder has no {name}/, which {neededFor} needs");
        }

        return path;
    }
}
