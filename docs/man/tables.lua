-- pandoc Lua filter for the man pages (docs/man/meson.build): pandoc's man
-- writer gives a table with wrapped cells 70n in all, which with the body's
-- 7n indentation and the gaps between columns is wider than an 80-column
-- terminal (man warns "table wider than line width"). Scale the relative
-- column widths down so that every table fits.
local SCALE = 0.85

function Table(t)
  for i, spec in ipairs(t.colspecs) do
    local width = spec[2]
    if type(width) == 'number' then
      t.colspecs[i] = {spec[1], width * SCALE}
    end
  end
  return t
end
