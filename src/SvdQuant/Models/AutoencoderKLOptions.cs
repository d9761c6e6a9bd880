namespace SvdQuant.Models;

/// <summary>
/// When the VAE runs an image in overlapping tiles, blended as diffusers' <c>enable_tiling</c> blends
/// them: memory then depends on the tile, not the image; the result differs from one pass only near seams.
/// </summary>
public enum VaeTiling
{
    /// <summary>
    /// Tiles only an image with a side above the default tile (the config's sample_size, at most 1024
    /// pixels: FLUX.1 tiles above 1024 x 1024), with tiles of <see cref="AutoencoderKLOptions.TileSize"/>.
    /// </summary>
    Auto = 0,

    /// <summary>Tiles any image with a side above <see cref="AutoencoderKLOptions.TileSize"/> (diffusers' enable_tiling).</summary>
    Always = 1,

    /// <summary>One pass over the whole image (diffusers' default; memory grows with the image).</summary>
    Never = 2,
}

/// <summary>How <see cref="AutoencoderKL"/> decodes and encodes: its tiling.</summary>
public sealed class AutoencoderKLOptions
{
    /// <summary>When to tile; default <see cref="VaeTiling.Auto"/>.</summary>
    public VaeTiling Tiling { get; set; } = VaeTiling.Auto;

    /// <summary>
    /// The tile side in image pixels, a positive multiple of 4 x the downscale (32 for FLUX.1); 0 (default):
    /// the config's sample_size, at most 1024.
    /// </summary>
    public int TileSize { get; set; }
}
