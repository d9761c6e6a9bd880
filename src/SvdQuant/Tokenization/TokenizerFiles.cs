using System;
using System.Collections.Generic;
using System.IO;
using System.Text.Json;

namespace SvdQuant.Tokenization;

/// <summary>
/// The files of a Hugging Face tokenizer folder, read with errors that name them: a missing file is
/// <see cref="StatusCode.Io"/>, bad content <see cref="StatusCode.Format"/>.
/// </summary>
internal static class TokenizerFiles
{
    public static string Require(string folder, string name)
    {
        string path = Path.Combine(folder, name);
        return File.Exists(path) ? path : throw new SvdQuantException(StatusCode.Io, $"The tokenizer file {path} does not exist.");
    }

    /// <summary>vocab.json: an object of token to id.</summary>
    public static Dictionary<string, int> ReadVocabulary(string path)
    {
        try
        {
            return JsonSerializer.Deserialize<Dictionary<string, int>>(File.ReadAllText(path))
                ?? throw new SvdQuantException(StatusCode.Format, $"{path} holds no vocabulary.");
        }
        catch (JsonException e)
        {
            throw new SvdQuantException(StatusCode.Format, $"{path} is not a JSON object of token to id: {e.Message}");
        }
    }

    public static int IdOf(IReadOnlyDictionary<string, int> vocabulary, string token, string path) =>
        vocabulary.TryGetValue(token, out int id) ? id : throw new SvdQuantException(StatusCode.Format, $"{path} has no token {token}.");

    /// <summary>
    /// A special token named in special_tokens_map.json (a string, or an object with "content"),
    /// or null when the file or the entry is absent.
    /// </summary>
    public static string? SpecialToken(string folder, string key)
    {
        string path = Path.Combine(folder, "special_tokens_map.json");
        if (!File.Exists(path))
        {
            return null;
        }

        using JsonDocument map = ParseJson(path);
        if (map.RootElement.ValueKind != JsonValueKind.Object || !map.RootElement.TryGetProperty(key, out JsonElement entry))
        {
            return null;
        }

        return entry.ValueKind switch
        {
            JsonValueKind.String => entry.GetString(),
            JsonValueKind.Object when entry.TryGetProperty("content", out JsonElement content) => content.GetString(),
            _ => throw new SvdQuantException(StatusCode.Format, $"{path}: \"{key}\" is neither a string nor an object with \"content\"."),
        };
    }

    private static JsonDocument ParseJson(string path)
    {
        try
        {
            return JsonDocument.Parse(File.ReadAllText(path));
        }
        catch (JsonException e)
        {
            throw new SvdQuantException(StatusCode.Format, $"{path} is not JSON: {e.Message}");
        }
    }
}
