using System;
using System.IO;
using SvdQuant.Formats;
using SvdQuant.Generation;

namespace SvdQuant.Tests;

/// <summary>
/// Generation inputs for flux-tiny (in_channels 16: 4 latent channels; joint_attention_dim 32,
/// pooled 24, guidance embedded), shared by the managed and CLI generation tests. 64 x 48 pixels
/// are 8 x 6 latents, 4 x 3 = 12 tokens.
/// </summary>
internal static class FluxTinyGeneration
{
    public static readonly string Model = Path.Combine(AppContext.BaseDirectory, "data", "flux-tiny");

    public const int Width = 64, Height = 48, Tokens = 12, Features = 16, TextTokens = 5;

    /// <summary>scale * sin(0.37 i + phase): smooth, signed, deterministic values.</summary>
    public static float[] Pattern(int count, float scale, float phase)
    {
        var values = new float[count];
        for (int i = 0; i < count; i++)
        {
            values[i] = scale * MathF.Sin(0.37f * i + phase);
        }

        return values;
    }

    public static TextConditioning Prompt() => new(Pattern(TextTokens * 32, 1f, 0.1f), TextTokens, Pattern(24, 1f, 0.7f));

    public static float[] Noise() => Pattern(Tokens * Features, 1f, 1.3f);

    /// <summary>Writes <paramref name="prompt"/> as an embeddings file (encoder_hidden_states, pooled_projections).</summary>
    public static void WriteEmbeddings(string path, TextConditioning prompt)
    {
        using var writer = new SafeTensorsWriter();
        writer.AddTensor("encoder_hidden_states", [1, prompt.TextTokens, prompt.TextWidth], prompt.EncoderHiddenStates);
        writer.AddTensor("pooled_projections", [1, prompt.PooledProjections.Length], prompt.PooledProjections);
        writer.Save(path);
    }

    /// <summary>A schnell-style copy of flux-tiny in <paramref name="folder"/>: guidance_embeds false, its embedder dropped.</summary>
    public static void WriteSchnellCopy(string folder)
    {
        Directory.CreateDirectory(folder);
        string config = File.ReadAllText(Path.Combine(Model, "config.json"));
        File.WriteAllText(Path.Combine(folder, "config.json"), config.Replace("\"guidance_embeds\": true", "\"guidance_embeds\": false"));
        using SafeTensorsFile original = SafeTensorsFile.Open(Path.Combine(Model, "diffusion_pytorch_model.safetensors"));
        using var writer = new SafeTensorsWriter();
        foreach (TensorInfo t in original.Tensors)
        {
            if (!t.Name.Contains("guidance_embedder"))
            {
                writer.AddTensor(t.Name, t.DType, [.. t.Shape], original.GetData(t.Name));
            }
        }

        writer.Save(Path.Combine(folder, "diffusion_pytorch_model.safetensors"));
    }
}
