"""Clara Train 4.x MMARs (configs naming MONAI components, wired by `@` references) on MONAI's own engines."""
