-- reads the latest version of the versioned model user_totals (v2)
select u.name, t.total
from {{ ref('user_totals') }} as t
join {{ ref('stg_users') }} as u on u.id = t.user_id
